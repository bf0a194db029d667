package station

import "context"

// ctxMutex is a mutex whose acquisition can be abandoned when a context
// ends: a one-slot channel used as a semaphore. Make it with newCtxMutex;
// the zero value blocks for ever.
type ctxMutex chan struct{}

func newCtxMutex() ctxMutex { return make(ctxMutex, 1) }

// Lock waits for the mutex.
func (m ctxMutex) Lock() { m <- struct{}{} }

// Unlock releases it; it must be held.
func (m ctxMutex) Unlock() { <-m }

// LockCtx waits for the mutex until ctx is done. It returns ctx's error,
// without the mutex, when ctx ended first (or had ended already).
func (m ctxMutex) LockCtx(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case m <- struct{}{}:
		if err := ctx.Err(); err != nil {
			<-m
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
