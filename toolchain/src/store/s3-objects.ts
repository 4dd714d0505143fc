/** Object IO on one bucket with errors that name s3://bucket/key. */

import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { storeError } from './errors.ts';

export interface PutOptions {
  contentType?: string;
  cacheControl?: string;
  signal?: AbortSignal;
}

export class S3Objects {
  readonly client: S3Client;
  readonly bucket: string;

  constructor(client: S3Client, bucket: string) {
    this.client = client;
    this.bucket = bucket;
  }

  url(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async getStream(key: string, signal?: AbortSignal): Promise<Readable> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: signal,
      });
      // NOTE: in Node the SDK's body is an http.IncomingMessage (a Readable).
      return out.Body as Readable;
    } catch (error) {
      throw storeError(this.url(key), 'reading', error);
    }
  }

  async getBytes(key: string, signal?: AbortSignal): Promise<Uint8Array> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: signal,
      });
      return await out.Body!.transformToByteArray();
    } catch (error) {
      throw storeError(this.url(key), 'reading', error);
    }
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: options.contentType,
          CacheControl: options.cacheControl,
        }),
        { abortSignal: options.signal },
      );
    } catch (error) {
      throw storeError(this.url(key), 'uploading', error);
    }
  }

  async size(key: string, signal?: AbortSignal): Promise<number> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: signal,
      });
      return out.ContentLength ?? -1;
    } catch (error) {
      throw storeError(this.url(key), 'checking', error);
    }
  }

  /** The "folder" names directly under `prefix` (which is "" or ends with "/"). */
  async childPrefixes(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    try {
      do {
        const out = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
        );
        for (const p of out.CommonPrefixes ?? []) {
          if (p.Prefix) names.push(p.Prefix.slice(prefix.length).replace(/\/$/, ''));
        }
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw storeError(this.url(prefix), 'listing', error);
    }
    return names;
  }
}
