/**
 * A unit run inside the supervisor's process (`isolation: inline`): the same unit body (unit-runner.ts) and the
 * same messages as a unit process, delivered in order on the event loop instead of over IPC. It costs no process
 * (a Node process is ~40 MB before it does anything), which is what lets an agent with a few procedures fit a
 * small box; the price is isolation — a unit that throws from a callback or allocates without bound takes the
 * supervisor with it. Procedures (system-checks, exec) are inline by default: their own code is small and an
 * external procedure runs in a child process anyway.
 */
import { EventEmitter } from 'node:events';
import type { SupervisorMessage, UnitMessage } from './protocol.js';
import { UnitRunner } from './unit-runner.js';

/** What unit.ts needs of a running unit, a child process or an inline one. */
export interface UnitWorker {
  /** The unit's own process id (null when it runs inline). */
  readonly pid?: number | undefined;
  /** Messages can still be sent. */
  readonly connected: boolean;
  send(m: SupervisorMessage): unknown;
  kill(signal: NodeJS.Signals): unknown;
  on(event: 'message', f: (m: UnitMessage) => void): unknown;
  on(event: 'error', f: (e: Error) => void): unknown;
  on(event: 'exit', f: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

export class InlineWorker extends EventEmitter implements UnitWorker {
  readonly pid = undefined;
  connected = true;
  private readonly runner = new UnitRunner({
    // setImmediate keeps the order of the unit's messages and their exit, as a pipe would
    post: (m) => {
      if (this.connected) setImmediate(() => this.emit('message', m));
    },
    exit: (code) => this.end(code, null),
    supervisorPid: process.pid,
  });

  send(m: SupervisorMessage): boolean {
    if (!this.connected) return false;
    queueMicrotask(() => this.runner.receive(m));
    return true;
  }

  /** Ends the unit at once (a stop that timed out): its source is aborted, what it sends later is ignored. */
  kill(signal: NodeJS.Signals): boolean {
    this.runner.abort();
    this.end(null, signal);
    return true;
  }

  private end(code: number | null, signal: NodeJS.Signals | null): void {
    if (!this.connected) return;
    this.connected = false;
    setImmediate(() => this.emit('exit', code, signal));
  }
}
