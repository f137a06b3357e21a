// The Holepunch declarations the public types need: the package's index.d.ts files reference this file.
/// <reference path="./corestore.d.ts" />
/// <reference path="./framed-stream.d.ts" />
/// <reference path="./hyperbee.d.ts" />
/// <reference path="./hypercore-crypto.d.ts" />
/// <reference path="./hypercore-id-encoding.d.ts" />
/// <reference path="./hypercore.d.ts" />
/// <reference path="./hyperdht.d.ts" />
/// <reference path="./hyperdrive.d.ts" />
/// <reference path="./hyperswarm.d.ts" />
/// <reference path="./protomux-rpc.d.ts" />
