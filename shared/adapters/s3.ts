/** BlobStore on S3 (one bucket; keys are full object keys). Counts PUT/GET/LIST requests. */
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { BlobStore } from '../ports/blob.ts';
import type { UsageMeter } from '../ports/usage.ts';

export class S3BlobStore implements BlobStore {
  constructor(private readonly opts: { client: S3Client; bucket: string; meter?: UsageMeter }) {}

  /** Create the bucket when missing (provisioning; the CDK stack does this on AWS). */
  async ensureBucket(): Promise<void> {
    try {
      await this.opts.client.send(new CreateBucketCommand({ Bucket: this.opts.bucket }));
    } catch (e) {
      const name = (e as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw e;
    }
  }

  async put(key: string, body: Uint8Array, contentType?: string): Promise<void> {
    this.opts.meter?.add({ s3PutRequests: 1 });
    await this.opts.client.send(
      new PutObjectCommand({ Bucket: this.opts.bucket, Key: key, Body: body, ContentType: contentType }),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.opts.meter?.add({ s3GetRequests: 1 });
    try {
      const res = await this.opts.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      return res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
    } catch (e) {
      if ((e as Error).name === 'NoSuchKey') return undefined;
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      this.opts.meter?.add({ s3ListRequests: 1 });
      const res = await this.opts.client.send(
        new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ContinuationToken }),
      );
      for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key);
      ContinuationToken = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return out.sort();
  }
}
