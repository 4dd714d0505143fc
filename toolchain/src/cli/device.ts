/** `--device` for every command that runs a model: parsed as a usage error (exit 2), resolved by devices.ts. */
import { DEVICE_CHOICES, type Device, type DeviceChoice, resolveDevice } from '../runtime/devices.ts';
import { enumArg } from './args.ts';

export const deviceArgs = {
  device: {
    type: 'string',
    valueHint: 'cpu|cuda|webgpu|auto',
    description:
      'where the models run (onnxruntime execution provider): cpu, cuda, webgpu, or auto (cuda, then webgpu, then cpu)',
    default: 'cpu',
  },
} as const;

/** The --device value, checked (exit 2 if unknown); call before any work. */
export function deviceChoiceArg(value: string | undefined): DeviceChoice {
  return enumArg<DeviceChoice>('device', value, DEVICE_CHOICES, 'cpu');
}

/** The device to run on: an unavailable EP is a one-line failure (exit 1) naming what to install. */
export function deviceArg(value: string | undefined): Promise<Device> {
  return resolveDevice(deviceChoiceArg(value));
}
