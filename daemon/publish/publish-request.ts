import type { PublishFileRequest } from '../../shared/messages.ts'
import type { Publisher } from './publisher.ts'

/** A publish request as Publisher.publish takes it: into this store's registry when a name is given. */
export function publishRequest(request: PublishFileRequest): Parameters<Publisher['publish']>[1] {
  return {
    name: request.name,
    registryName: request.registryName,
    about: { engine: request.engine, quantization: request.quantization, description: request.description }
  }
}
