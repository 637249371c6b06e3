package control

// KnownTask reports whether the control plane tracks a task with this id
// (running, starting or stopping). After Start, a task container or
// process it does not know is an orphan a crash left behind, which a driver
// may sweep.
func (s *Server) KnownTask(id string) bool {
	for _, v := range s.allServices() {
		v.mu.Lock()
		_, ok := v.tasks[id]
		v.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}
