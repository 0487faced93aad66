/**
 * The Linux errno values the loop's transitions look at, as positive numbers. A CQE result is
 * `-errno` on failure, so the model compares `result === -EAGAIN` exactly as the C loop does.
 *
 * Only x86-64/aarch64 Linux values are listed (they are the same on both). `EWOULDBLOCK` is
 * `EAGAIN` on Linux, so there is one name for both.
 */

export const ENOENT = 2
export const EINTR = 4
export const EIO = 5
export const EBADF = 9
export const EAGAIN = 11
export const EINVAL = 22
export const EPIPE = 32
export const EPERM = 1
export const ECONNRESET = 104
export const ETIMEDOUT = 110
export const EALREADY = 114
export const ECANCELED = 125
export const ENOBUFS = 105
/**
 * The kernel's own restart codes (ERESTARTSYS 512 … ERESTART_RESTARTBLOCK 516): a blocking
 * operation on an io-wq worker interrupted by its cancel can end with one; they mean EINTR.
 */
export const isRestart = (errno: number): boolean => errno >= 512 && errno <= 516
