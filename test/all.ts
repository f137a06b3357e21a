// `npm test`: every capability's tests, in one brittle run.
import './wire.test.ts'
import './connect.test.ts'
import './errors.test.ts'
import './inference.test.ts'
import './stream.test.ts'
import './cli.test.ts'
