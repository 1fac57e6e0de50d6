/** s3rver ships no types: the constructor and run()/close() the test harness uses (test/harness/s3.ts). */
declare module 's3rver' {
  export default class S3rver {
    constructor(options: Record<string, unknown>);
    run(): Promise<{ port: number }>;
    close(): Promise<void>;
  }
}
