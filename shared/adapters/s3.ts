/** BlobStore on S3 (one bucket; keys are full object keys). Counts PUT/GET/LIST requests. */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SluiceError } from '../errors.ts';
import { type BlobInfo, type BlobStore, BlobTooLargeError } from '../ports/blob.ts';
import type { UsageMeter } from '../ports/usage.ts';

/** S3 refused a call with 403; for a GetObject that may also mean a missing key the caller may not list. */
export class S3AccessDeniedError extends SluiceError {
  readonly code = 'AccessDenied';
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly operation: string,
    cause: unknown,
  ) {
    super(
      `${operation} s3://${bucket}/${key}: AccessDenied (403): ${(cause as Error)?.message || 'no message'}. ` +
        (operation === 'GetObject'
          ? 'Either the role may not s3:GetObject this key, or the key does not exist and the role may not ' +
            's3:ListBucket the bucket with this key as s3:prefix (S3 then answers 403 instead of 404).'
          : 'The role may not do this.'),
      { cause },
    );
    this.name = 'AccessDenied';
  }
}

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

  /**
   * The object's bytes, or undefined when S3 says it does not exist (404). A 403 is never taken for
   * "missing": S3 also answers 403 for a missing key when the caller may not s3:ListBucket it, and reading
   * that as "no checkpoint / no state yet" would silently start over. It fails with S3AccessDeniedError,
   * which says so.
   */
  async get(key: string, opts: { maxBytes?: number } = {}): Promise<Uint8Array | undefined> {
    this.opts.meter?.add({ s3GetRequests: 1 });
    try {
      const res = await this.opts.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      const size = res.ContentLength;
      if (opts.maxBytes !== undefined && size !== undefined && size > opts.maxBytes) {
        // Refused from the headers: the body is dropped unread.
        (res.Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw new BlobTooLargeError(key, size, opts.maxBytes);
      }
      const body = res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
      if (opts.maxBytes !== undefined && body.length > opts.maxBytes)
        throw new BlobTooLargeError(key, body.length, opts.maxBytes);
      return body;
    } catch (e) {
      const name = (e as Error).name;
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket'))
        return undefined;
      // A body-less 403 (e.g. to a HEAD) surfaces from the SDK as name 'Unknown' with status 403.
      if (name === 'AccessDenied' || status === 403)
        throw new S3AccessDeniedError(this.opts.bucket, key, 'GetObject', e);
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    this.opts.meter?.add({ s3PutRequests: 1 });
    try {
      await this.opts.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: key }));
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if ((e as Error).name === 'AccessDenied' || status === 403)
        throw new S3AccessDeniedError(this.opts.bucket, key, 'DeleteObject', e);
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.listInfo(prefix)).map((o) => o.key);
  }

  async listInfo(prefix: string): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    let ContinuationToken: string | undefined;
    do {
      this.opts.meter?.add({ s3ListRequests: 1 });
      let res: ListObjectsV2CommandOutput;
      try {
        res = await this.opts.client.send(
          new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ContinuationToken }),
        );
      } catch (e) {
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if ((e as Error).name === 'AccessDenied' || status === 403)
          throw new S3AccessDeniedError(this.opts.bucket, prefix, 'ListBucket', e);
        throw e;
      }
      for (const o of res.Contents ?? [])
        if (o.Key) out.push({ key: o.Key, lastModified: o.LastModified?.getTime() ?? 0 });
      ContinuationToken = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
