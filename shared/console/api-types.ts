/**
 * The shapes the console's JSON API and event streams send: shared by the server (shared/console) and
 * the browser app (console/), so both sides are checked against one definition. No runtime code and
 * no Node imports here: the browser build includes this file.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export type NodeKind = 'capture' | 'collection' | 'derivation' | 'materialization';

export interface GraphNode {
  /** `<kind>:<catalog name>`: unique across kinds (a derivation and its collection share a name). */
  id: string;
  kind: NodeKind;
  name: string;
  /** Label of the task whose figures this node shows (`persister:<name>` for a collection). */
  task: string;
  /** For an HTTP-ingest capture: the binding paths the playground can post to. */
  ingestPaths?: { path: string; collection: string }[];
}

export interface GraphEdge {
  from: string;
  to: string;
  /** Label of the task whose documents per second the edge shows (documents moving along it). */
  task: string;
  /** Which of the task's rates: what it reads (`in`) or what it writes (`out`). */
  rate: 'in' | 'out';
}

export interface FlowGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** One task at one instant. */
export interface TaskSample {
  /** Epoch ms. */
  t: number;
  docsIn: number;
  docsOut: number;
  /** Documents per second in and out since the previous sample. */
  inRate: number;
  outRate: number;
  lagMs: number;
  errors: number;
  /** Batches sent to the on-failure destination. */
  failures: number;
}

export type TaskStatus = 'idle' | 'ok' | 'failing' | 'halted';

export interface TaskLive extends TaskSample {
  label: string;
  kind: string;
  task: string;
  invocations: number;
  status: TaskStatus;
  /** The last error, when failing or halted. */
  lastError?: string;
  /** Where a halted task stands still: the record that keeps failing, retried until it succeeds. */
  halt?: { shardId: string; sequenceNumber: string; error: string; attempts: number; sinceMs: number };
}

export interface LiveSnapshot {
  t: number;
  tasks: TaskLive[];
  /** Estimated AWS cost of this run so far, USD (all tasks). */
  costUsd: number;
  /** Bumped by every reload: the browser refetches the graph when it changes. */
  generation: number;
}

export interface GraphResponse {
  graph: FlowGraph;
  catalogPath: string;
  deployCommand?: string;
  ingestUrl: string;
  generation: number;
  live: LiveSnapshot;
}

/** Billable units and their estimated cost (shared/ports/usage.ts CostReport, restated for the browser). */
export interface TaskCost {
  usage: {
    kinesisPutPayloadUnits: number;
    kinesisRecords: number;
    kinesisGetRecordsCalls: number;
    dynamoWriteUnits: number;
    dynamoReadUnits: number;
    s3PutRequests: number;
    s3GetRequests: number;
    s3ListRequests: number;
    lambdaInvocations: number;
    lambdaGbSeconds: number;
  };
  dollars: { kinesis: number; dynamodb: number; s3: number; lambda: number; total: number };
}

export interface TaskResponse {
  label: string;
  kind: string;
  task: string;
  functionName: string;
  memoryMb: number;
  stats: { invocations: number; errors: number; timeouts: number; coldStarts: number; durationMs: number };
  mappings: {
    records: number;
    docs: number;
    errors: number;
    failures: number;
    millisBehindLatest: number;
    lastError?: string;
    failure?: string;
  }[];
  history: TaskSample[];
  recentErrors: string[];
  lastError?: string;
  cost?: TaskCost;
  /** On-failure records of the task's mappings (where the batches it gave up on were). */
  parked: Json[];
  /** Its failure policy is `park`: the documents it set aside (first 100), for a redrive. */
  parkedDocs?: ParkedDocInfo[];
}

/** A parked document (shared/ports/parking.ts ParkedDoc) as the console shows it. */
export interface ParkedDocInfo {
  key: string;
  collection: string;
  shardId: string;
  streamPosition: string;
  /** Where it was, for people: `shard … · position seq#index`, or a capture's object and record. */
  where: string;
  error: string;
  parkedAt: string;
  redriveAttempts?: number;
  doc: Json;
}

/** What a redrive did (shared/ports/parking.ts RedriveResult). */
export interface RedriveResponse {
  redriven: number;
  remaining: number;
  failures: { collection: string; shardId: string; position: string; error: string }[];
}

export interface CollectionInfo {
  name: string;
  key: string[];
  /** The write schema document (and the read schema when it differs). */
  writeSchema: Json;
  readSchema?: Json;
  /** Every field a materialization would store: name, JSON pointer, SQL column type, key or not. */
  columns: { name: string; pointer: string; sqlType: string; isKey: boolean; partition: boolean }[];
  /** The `Document` type `sluice generate` writes for it. */
  typescript: string;
  /** Tasks that write it and read it (task labels). */
  writers: string[];
  readers: string[];
}

export interface DocPage {
  docs: { key: (Json | undefined)[]; doc: Json }[];
  /** Cursor of the next page (hex of the last packed key), when there may be more. */
  next?: string;
  /** Set when the collection keeps no reduced view (SluiceCatalogProps.views): why there are no documents. */
  noView?: string;
}

export type ChangeKind = 'added' | 'changed' | 'removed';

export interface CatalogChange {
  change: ChangeKind;
  /** `capture`, `collection`, `derivation`, `materialization` or `test`. */
  kind: string;
  name: string;
  /** For a change: which parts differ (`schema`, `key`, `module`, `bindings`, …). */
  parts?: string[];
}

/** A `sluice check` diagnostic, with its file relative to the catalog folder. */
export interface DraftDiagnostic {
  code: string;
  severity: 'error' | 'warning';
  message: string;
  file: string;
  line: number;
  col: number;
  pointer: string;
  hint?: string;
}

export interface DraftCheck {
  /** True when the draft loads without errors (warnings allowed): it may be published. */
  ok: boolean;
  diagnostics: DraftDiagnostic[];
  /** What publishing would change against the running catalog (empty when not ok). */
  changes: CatalogChange[];
}

/** What a reload did, shown to the user after a publish. */
export interface ReloadSummary {
  /** True when the stack now runs the catalog as it is on disk. */
  ok: boolean;
  /** Human-readable lines: synthesized or cached, restarted in N s, or why it failed. */
  messages: string[];
}

export interface PublishResponse extends DraftCheck {
  published: boolean;
  written: string[];
  reload?: ReloadSummary;
}

export interface ConsoleTestResult {
  name: string;
  passed: boolean;
  millis: number;
  /** `PASS name (ms)` or `FAIL …`, the failing step and its diff, exactly as the CLI prints them. */
  lines: string[];
}

export interface ConsoleTestRun {
  passed: number;
  failed: number;
  results: ConsoleTestResult[];
  /** Why no test could run (the catalog or draft has errors, a module fails to load, …). */
  error?: string;
  diagnostics?: DraftDiagnostic[];
}

export interface FilesResponse {
  /** The catalog folder, relative to where `sluice dev` runs. */
  folder: string;
  /** The root catalog file, relative to the folder. */
  root: string;
  files: string[];
}

export interface IngestResponse {
  status: number;
  body: Json | string;
}
