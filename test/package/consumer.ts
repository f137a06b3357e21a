// A strict TypeScript consumer of the client (`tsc --strict --noEmit`, skipLibCheck off): the
// public types check in a project that installed only the package, no daemon dependencies.
import { connect, isQvacError, type InferTrailer, type QvacClient, type DaemonStatus } from 'qvacd'

export async function firstTokens(topic: string, modelId: string): Promise<string> {
  const client: QvacClient = await connect({ topic, bootstrap: ['127.0.0.1:49737'] })
  const status: DaemonStatus = await client.status()
  const stream = client.infer({ modelId, prompt: `hello ${status.topicName}`, maxTokens: 8 })
  let text = ''
  for await (const chunk of stream) text += chunk.text
  const trailer: InferTrailer = await stream.trailer
  if (trailer.error && isQvacError(trailer.error, 'MODEL_NOT_FOUND')) return ''
  await client.close()
  return text
}
