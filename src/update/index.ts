/** Software updates over the air: stage, self-test, switch, guard, roll back, prune (README.md in this folder). */
export { type ApplyUpdateOptions, type ApplyUpdateResult, applyUpdate } from './apply.js';
export {
  type GuardOptions,
  type GuardResult,
  guardArgv,
  guardUpdate,
  type SpawnGuardOptions,
  spawnGuard,
} from './guard.js';
export {
  COMPLETE_MARKER,
  checkVersion,
  currentVersion,
  installRootOf,
  isComplete,
  type Layout,
  layoutOf,
  previousVersion,
  runningPackageDir,
  versionDir,
} from './layout.js';
export {
  formatCheck,
  runSelftestChecks,
  type SelftestCheck,
  type SelftestChecksOptions,
  type SelftestResult,
  selftest,
} from './selftest.js';
export { checkSpool, type DepsInstall, type StageOptions, type StageResult, stageUpdate } from './stage.js';
export {
  markReported,
  pendingReport,
  type RunningPid,
  readRunningPid,
  readUpdateState,
  recordRunningPid,
  type UpdateState,
  type UpdateStatus,
  waitForOutcome,
} from './state.js';
export { pruneVersions, rollback, type SwitchOptions, switchVersion } from './switch.js';
export {
  checkPackageEntries,
  DEFAULT_MAX_BYTES,
  download,
  type ExtractLimits,
  extractPackage,
  listTarGz,
  type TarEntry,
} from './tarball.js';
