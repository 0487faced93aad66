/**
 * IoUringSocket and IoUringSocketServer run the socket behaviour suite with the same expectations as
 * @effect/platform-node's NodeSocket and NodeSocketServer (which run it here too, so that the suite
 * itself is checked against the reference).
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { Layer } from "effect"
import { probe } from "@iou/native"
import { IoUringSocket, IoUringSocketServer, NodeIoUring } from "@iou/effect"
import { socketSuite } from "./socket.suite.ts"

socketSuite("NodeSocket / NodeSocketServer (the reference)", {
  layer: Layer.empty,
  makeNet: (options) => NodeSocket.makeNet(options),
  makeServer: (options) => NodeSocketServer.make(options),
})

socketSuite(
  "IoUringSocket / IoUringSocketServer",
  {
    layer: NodeIoUring.layer({ size: 256, shutdownTimeout: 2000 }),
    makeNet: (options) => IoUringSocket.makeNet(options),
    makeServer: (options) => IoUringSocketServer.make(options),
  },
  !probe().supported,
)
