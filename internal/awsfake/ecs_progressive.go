package awsfake

// progressive is the state of a BLUE_GREEN, CANARY or LINEAR deployment.
type progressive struct {
	done bool
}

// weights returns the production and test traffic weights rev receives.
func (p *progressive) weights(rev *svcRevision) (prod, test float64) { return 0, 0 }

func (s *Server) startProgressive(svc *service, sd *svcDeployment, d *deployment) {}

func (s *Server) reconcileProgressive(svc *service, sd *svcDeployment) {}

func (s *Server) rollbackProgressive(svc *service, sd *svcDeployment) {}

func (s *Server) reconcileHooks() {}

func (s *Server) ecsContinueServiceDeployment(in struct {
	ServiceDeploymentArn, HookId, Action string
}) (any, error) {
	return nil, errorf("InvalidParameterException", "no lifecycle hook is awaiting action")
}
