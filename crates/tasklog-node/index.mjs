// ESM entry: the same module as index.js (one native instance).
import cjs from './index.js';

export const {
  Writer,
  Task,
  ToolCall,
  Cycle,
  TasklogError,
  RefusedError,
  TRACEPARENT_ENV,
  EVENTS_STREAM,
  currentTraceparent,
  childEnv,
} = cjs;
export default cjs;
