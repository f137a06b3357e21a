import type { BenchContext } from '../context.ts'
import type { ScenarioRecorder } from '../report.ts'
import { coldStartScenario } from './cold-start.ts'
import { fetchScenario } from './fetch.ts'
import { grpcScenario } from './grpc.ts'
import { llamaServerScenario } from './llama-server.ts'
import { loadScenario } from './load.ts'
import { rpcScenario } from './rpc.ts'
import { streamScenario } from './stream.ts'
import { threadsScenario } from './threads.ts'
import { gatewayScenario } from './gateway.ts'
import { routingScenario } from './routing.ts'

export type Scenario = (ctx: BenchContext, rec: ScenarioRecorder) => Promise<void>

/** Every scenario, in the order a full run takes them. */
export const SCENARIOS: Record<string, Scenario> = {
  rpc: rpcScenario,
  stream: streamScenario,
  'llama-server': llamaServerScenario,
  threads: threadsScenario,
  grpc: grpcScenario,
  'cold-start': coldStartScenario,
  load: loadScenario,
  fetch: fetchScenario,
  gateway: gatewayScenario,
  routing: routingScenario
}
