import { describe, expect, it } from 'vitest';
import { type Device, resolveDevice, shortReason } from './devices.ts';
import { placementFromProfile } from './placement.ts';

const problems =
  (missing: Partial<Record<Device, string>>) =>
  async (d: Device): Promise<string | undefined> =>
    missing[d];

describe('resolveDevice', () => {
  it('auto takes cuda, then webgpu, then cpu', async () => {
    expect(await resolveDevice('auto', problems({}))).toBe('cuda');
    expect(await resolveDevice('auto', problems({ cuda: 'no' }))).toBe('webgpu');
    expect(await resolveDevice('auto', problems({ cuda: 'no', webgpu: 'no' }))).toBe('cpu');
  });

  it('an explicit device that cannot run is one line: the reason and what to install', async () => {
    await expect(resolveDevice('webgpu', problems({ webgpu: 'Failed to get a WebGPU adapter' }))).rejects.toThrow(
      /^--device webgpu: Failed to get a WebGPU adapter; needs a Vulkan driver/,
    );
    expect(await resolveDevice('cpu', problems({ cpu: 'never asked' }))).toBe('cpu');
  });

  it('shortReason keeps the reason of an onnxruntime check failure', () => {
    const message =
      '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 lambda adapter_result.status == ' +
      'wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters';
    expect(shortReason(message)).toBe('Failed to get a WebGPU adapter: No supported adapters');
  });
});

describe('placementFromProfile', () => {
  const node = (name: string, op: string, provider: string) => ({
    cat: 'Node',
    name: `${name}_kernel_time`,
    args: { op_name: op, provider },
  });
  it('counts each node once by provider, leaving out inserted copies and non-kernel events', () => {
    const events = [
      { cat: 'Session', name: 'model_run' },
      node('conv', 'Conv', 'WebGpuExecutionProvider'),
      node('q1', 'QuantizeLinear', 'CPUExecutionProvider'),
      node('q2', 'QuantizeLinear', 'CPUExecutionProvider'),
      node('shape', 'Shape', 'CPUExecutionProvider'),
      node('copy', 'MemcpyFromHost', 'WebGpuExecutionProvider'),
      { cat: 'Node', name: 'conv_fence_before', args: { op_name: 'Conv', provider: 'CPUExecutionProvider' } },
      node('conv', 'Conv', 'WebGpuExecutionProvider'), // a second run of the same node
    ];
    expect(placementFromProfile(events, 'webgpu', 'sample')).toEqual({
      label: 'sample',
      device: 'webgpu',
      nodes: 4,
      cpuNodes: 3,
      cpuOps: { QuantizeLinear: 2, Shape: 1 },
    });
  });
});
