/**
 * The operation table, for the Driver's parts: it lives in @iou/core (Operations.ts), where
 * @iou/effect reads it without loading this package; adding an operation starts there.
 */
import { Operations } from "@iou/core"

export type Operation = Operations.Operation
export type Method = Operations.Method
export type SubmitMethod = Operations.SubmitMethod
export type Syscall = Operations.Syscall
export type Class = Operations.Class
export type Classes = Operations.Classes

export const { OPERATIONS, BY_OP, SYSCALLS, CLASSES, methodOf, fdOf, accepts, classBits, isMultishot } = Operations
