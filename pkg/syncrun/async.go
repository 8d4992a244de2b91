package syncrun

// async runs f in the background and returns a function that waits for f
// to end and returns what it returned, as often as it is called: a read a
// run starts before it needs the result (the inventory beside the spec,
// the Namespace's lockdown, a unit's drift check).
func async[T any](f func() (T, error)) func() (T, error) {
	done := make(chan struct{})
	var v T
	var err error
	go func() {
		defer close(done)
		v, err = f()
	}()
	return func() (T, error) {
		<-done
		return v, err
	}
}
