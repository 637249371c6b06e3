package awsfake

func (s *Server) stsHandlers() map[string]queryHandler {
	return map[string]queryHandler{
		"GetCallerIdentity": func(qmap) (*xmlNode, error) {
			return el("",
				txt("Account", s.opts.Account),
				txt("Arn", "arn:aws:iam::"+s.opts.Account+":user/berth-test"),
				txt("UserId", "AIDAAWSFAKEBERTHTEST"),
			), nil
		},
	}
}
