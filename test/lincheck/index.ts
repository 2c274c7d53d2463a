/**
 * The linearizability checker (Porcupine's algorithm) and its models. The simulation and the
 * chaos tests import from here only.
 */
export {
  CHECK_DEFAULTS,
  checkEvents,
  checkOperations,
  checkOperationsVerbose,
  describeCounterexample,
  describeOperation,
  eventsToOperations,
  resolveCheckOptions,
} from './checker.js';
export type { CheckOptions, CheckReport, CheckResult, Counterexample, Event, Model, Operation } from './checker.js';
export { casRegisterModel, kvModel, registerModel } from './models.js';
export type {
  CasRegisterInput,
  CasRegisterOutput,
  CasRegisterState,
  KvInput,
  KvOutput,
  RegisterInput,
  RegisterOperation,
  RegisterOutput,
  RegisterValue,
} from './models.js';
export { parseJepsenEtcdLog, parseJepsenExpected, parseKvLog } from './parsers.js';
export type { CasRegisterOperation, KvOperation } from './parsers.js';
