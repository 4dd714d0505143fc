import { describe, expect, it } from 'vitest';
import { defaultConfig } from './config.ts';
import { HttpError } from './errors.ts';
import { parseSampleRequest } from './sample-request.ts';

const parse = (raw: Record<string, unknown>, config = defaultConfig) => parseSampleRequest(raw, config, () => 1234);

describe('parseSampleRequest', () => {
  it('fills defaults from the config and a random seed', () => {
    expect(parse({})).toEqual({
      model: undefined,
      variant: 'int8',
      seed: 1234,
      n: 4,
      eta: 0,
      format: 'png',
    });
    expect(parse({}, { ...defaultConfig, defaultModel: 'mnist32', maxBatch: 2 })).toMatchObject({
      model: 'mnist32',
      n: 2,
    });
  });

  it('reads query strings and JSON numbers alike; digits in steps are a step count', () => {
    const fromQuery = parse({ seed: '4294967295', n: '16', steps: '50', eta: '0.25' });
    const fromJson = parse({ seed: 4294967295, n: 16, steps: 50, eta: 0.25 });
    expect(fromQuery).toEqual(fromJson);
    expect(fromQuery.steps).toBe(50);
    expect(parse({ steps: 'DDIM10' }).steps).toBe('DDIM10');
  });

  it('names the field of the first problem', () => {
    const fieldOf = (raw: Record<string, unknown>) => {
      try {
        parse(raw);
      } catch (error) {
        return error instanceof HttpError ? [error.status, error.field] : error;
      }
      return 'accepted';
    };
    expect(fieldOf({ n: true })).toEqual([400, 'n']);
    expect(fieldOf({ seed: 1.5 })).toEqual([400, 'seed']);
    expect(fieldOf({ eta: '' })).toEqual([400, 'eta']);
    expect(fieldOf({ steps: { x: 1 } })).toEqual([400, 'steps']);
    expect(fieldOf({ model: 'a/b' })).toEqual([400, 'model']);
    expect(fieldOf({ extra: 1 })).toEqual([400, 'extra']);
    expect(fieldOf({ sampler: 'euler' })).toEqual([400, 'sampler']);
    expect(fieldOf({ sampler: 2 })).toEqual([400, 'sampler']);
    expect(fieldOf({ sampler: 'ddpm', eta: '0.5' })).toEqual([400, 'eta']);
  });

  it('leaves sampler and steps unset when not named (the plan takes the variant schedule, else the defaults)', () => {
    const parsed = parse({});
    expect(parsed.steps).toBeUndefined();
    expect(parsed.sampler).toBeUndefined();
  });

  it('takes dpm++2m under both spellings, from a query or a JSON body', () => {
    expect(parse({ sampler: 'dpmpp2m' }).sampler).toBe('dpm++2m');
    expect(parse({ sampler: 'dpm++2m', eta: 0 }).sampler).toBe('dpm++2m');
    expect(parse({ sampler: 'ddpm' }).sampler).toBe('ddpm');
  });
});
