/**
 * Fifo: a growable ring-buffer queue (the ready queue, pending cancels and the inbound queue of the
 * model). Push and shift allocate nothing until the queue outgrows its storage, which then doubles.
 */

export interface Fifo<A> {
  items: Array<A | undefined>
  head: number
  length: number
}

export const make = <A>(capacity = 16): Fifo<A> => ({
  items: new Array<A | undefined>(Math.max(1, capacity)).fill(undefined),
  head: 0,
  length: 0,
})

export const push = <A>(q: Fifo<A>, item: A): void => {
  if (q.length === q.items.length) {
    const items = new Array<A | undefined>(q.items.length * 2).fill(undefined)
    for (let i = 0; i < q.length; i++) items[i] = q.items[(q.head + i) % q.items.length]
    q.items = items
    q.head = 0
  }
  q.items[(q.head + q.length) % q.items.length] = item
  q.length++
}

/** Removes and returns the oldest item, or undefined when empty. */
export const shift = <A>(q: Fifo<A>): A | undefined => {
  if (q.length === 0) return undefined
  const item = q.items[q.head]
  q.items[q.head] = undefined
  q.head = (q.head + 1) % q.items.length
  q.length--
  return item
}

/** The item at position i from the oldest (0), without removing it. */
export const at = <A>(q: Fifo<A>, i: number): A | undefined =>
  i < 0 || i >= q.length ? undefined : q.items[(q.head + i) % q.items.length]

export const isEmpty = <A>(q: Fifo<A>): boolean => q.length === 0
