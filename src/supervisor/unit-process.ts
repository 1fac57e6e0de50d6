/**
 * A unit's own process: runs unit-runner.ts over IPC. A failure here (an exception, a native crash in a driver
 * addon, running out of memory) ends this process only; the supervisor restarts it with backoff. Started by
 * unit.ts with fork(); its pipeline arrives in the first message.
 */
import type { SupervisorMessage } from './protocol.js';
import { UnitRunner } from './unit-runner.js';

// internal invariant: this module only runs as a child started by unit.ts (with an IPC channel)
if (!process.send) throw new Error('unit-process.ts runs as a child process of sigflow run');

const runner = new UnitRunner({
  post(m) {
    // the parent is gone (it died or stopped us): nothing to hand over to
    if (process.connected) process.send?.(m);
  },
  exit: (code) => process.exit(code),
  supervisorPid: process.ppid,
});
// Ctrl-C reaches the whole process group and systemd signals the whole cgroup: a unit stops when the supervisor
// tells it (after the others), never on its own signal, so its last records are still handed over
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('SIGHUP', () => {});
// the supervisor died (SIGKILL, crash): stop reading, nobody would store what follows
process.on('disconnect', () => {
  runner.abort();
  setTimeout(() => process.exit(1), 2000).unref();
});
process.on('message', (m: SupervisorMessage) => runner.receive(m));
