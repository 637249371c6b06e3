package awsfake

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

type logsState struct {
	groups map[string]*logGroup
}

type logGroup struct {
	name      string
	created   int64
	retention int
	streams   map[string]*logStream
	tags      map[string]string
}

type logStream struct {
	name    string
	created int64
	events  []logEvent
}

type logEvent struct {
	ts, ingested int64
	message      string
	id           string
}

func newLogsState() *logsState { return &logsState{groups: map[string]*logGroup{}} }

// PutLogLines appends lines to a CloudWatch Logs stream at the fake
// clock's time, creating the group and stream if needed, as a running
// task's awslogs driver would.
func (s *Server) PutLogLines(group, stream string, lines ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLogs(group, stream, lines)
}

func (s *Server) appendLogs(group, stream string, lines []string) {
	g := s.logs.groups[group]
	if g == nil {
		g = &logGroup{name: group, created: s.now.UnixMilli(), streams: map[string]*logStream{}, tags: map[string]string{}}
		s.logs.groups[group] = g
	}
	st := g.streams[stream]
	if st == nil {
		st = &logStream{name: stream, created: s.now.UnixMilli()}
		g.streams[stream] = st
	}
	for _, l := range lines {
		st.events = append(st.events, logEvent{ts: s.now.UnixMilli(), ingested: s.now.UnixMilli(), message: l, id: s.nextID(16)})
	}
}

func (s *Server) logGroupByName(name string) (*logGroup, error) {
	if strings.HasPrefix(name, "arn:") {
		_, name, _ = strings.Cut(name, ":log-group:")
		name = strings.TrimSuffix(name, ":*")
	}
	g := s.logs.groups[name]
	if g == nil {
		return nil, errorf("ResourceNotFoundException", "The specified log group does not exist.")
	}
	return g, nil
}

func (s *Server) logGroupArn(name string) string {
	return s.arn("logs", "log-group:"+name)
}

func (s *Server) logsHandlers() map[string]jsonHandler {
	return map[string]jsonHandler{
		"CreateLogGroup": handle(func(in struct {
			LogGroupName string
			Tags         map[string]string
		}) (any, error) {
			if s.logs.groups[in.LogGroupName] != nil {
				return nil, errorf("ResourceAlreadyExistsException", "The specified log group already exists")
			}
			g := &logGroup{name: in.LogGroupName, created: s.now.UnixMilli(), streams: map[string]*logStream{}, tags: map[string]string{}}
			for k, v := range in.Tags {
				g.tags[k] = v
			}
			s.logs.groups[in.LogGroupName] = g
			return nil, nil
		}),
		"PutRetentionPolicy": handle(func(in struct {
			LogGroupName    string
			RetentionInDays int
		}) (any, error) {
			g, err := s.logGroupByName(in.LogGroupName)
			if err != nil {
				return nil, err
			}
			valid := []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
			ok := false
			for _, v := range valid {
				ok = ok || v == in.RetentionInDays
			}
			if !ok {
				return nil, errorf("InvalidParameterException", "1 validation error detected: Value '%d' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set", in.RetentionInDays)
			}
			g.retention = in.RetentionInDays
			return nil, nil
		}),
		"DescribeLogGroups": handle(func(in struct {
			LogGroupNamePrefix  string
			LogGroupIdentifiers []string
			Limit               int
			NextToken           string
		}) (any, error) {
			var out []map[string]any
			for _, n := range sortedKeys(s.logs.groups) {
				if !strings.HasPrefix(n, in.LogGroupNamePrefix) {
					continue
				}
				if len(in.LogGroupIdentifiers) > 0 && !contains(in.LogGroupIdentifiers, n) && !contains(in.LogGroupIdentifiers, s.logGroupArn(n)) {
					continue
				}
				g := s.logs.groups[n]
				gj := map[string]any{"logGroupName": n, "creationTime": g.created, "arn": s.logGroupArn(n) + ":*",
					"logGroupArn": s.logGroupArn(n), "storedBytes": 0, "logGroupClass": "STANDARD"}
				if g.retention > 0 {
					gj["retentionInDays"] = g.retention
				}
				out = append(out, gj)
			}
			items, next, err := page(out, in.Limit, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"logGroups": orEmpty(items), "nextToken": omitEmpty(next)}, nil
		}),
		"DeleteLogGroup": handle(func(in struct{ LogGroupName string }) (any, error) {
			if _, err := s.logGroupByName(in.LogGroupName); err != nil {
				return nil, err
			}
			delete(s.logs.groups, in.LogGroupName)
			return nil, nil
		}),
		"CreateLogStream": handle(func(in struct{ LogGroupName, LogStreamName string }) (any, error) {
			g, err := s.logGroupByName(in.LogGroupName)
			if err != nil {
				return nil, err
			}
			if g.streams[in.LogStreamName] != nil {
				return nil, errorf("ResourceAlreadyExistsException", "The specified log stream already exists")
			}
			g.streams[in.LogStreamName] = &logStream{name: in.LogStreamName, created: s.now.UnixMilli()}
			return nil, nil
		}),
		"PutLogEvents": handle(func(in struct {
			LogGroupName, LogStreamName string
			LogEvents                   []struct {
				Timestamp int64
				Message   string
			}
		}) (any, error) {
			g, err := s.logGroupByName(in.LogGroupName)
			if err != nil {
				return nil, err
			}
			st := g.streams[in.LogStreamName]
			if st == nil {
				return nil, errorf("ResourceNotFoundException", "The specified log stream does not exist.")
			}
			for _, e := range in.LogEvents {
				st.events = append(st.events, logEvent{ts: e.Timestamp, ingested: s.now.UnixMilli(), message: e.Message, id: s.nextID(16)})
			}
			return map[string]any{"nextSequenceToken": s.nextID(16)}, nil
		}),
		"DescribeLogStreams": handle(func(in struct {
			LogGroupName        string
			LogGroupIdentifier  string
			LogStreamNamePrefix string
			OrderBy             string
			Descending          bool
			Limit               int
			NextToken           string
		}) (any, error) {
			name := in.LogGroupName
			if name == "" {
				name = in.LogGroupIdentifier
			}
			g, err := s.logGroupByName(name)
			if err != nil {
				return nil, err
			}
			var streams []*logStream
			for _, st := range g.streams {
				if strings.HasPrefix(st.name, in.LogStreamNamePrefix) {
					streams = append(streams, st)
				}
			}
			last := func(st *logStream) int64 {
				if len(st.events) == 0 {
					return st.created
				}
				return st.events[len(st.events)-1].ts
			}
			sort.Slice(streams, func(i, j int) bool {
				if in.OrderBy == "LastEventTime" {
					if last(streams[i]) != last(streams[j]) {
						return last(streams[i]) < last(streams[j]) != in.Descending
					}
				}
				return streams[i].name < streams[j].name != in.Descending
			})
			var out []map[string]any
			for _, st := range streams {
				sj := map[string]any{"logStreamName": st.name, "creationTime": st.created,
					"arn": s.logGroupArn(g.name) + ":log-stream:" + st.name, "storedBytes": 0}
				if n := len(st.events); n > 0 {
					sj["firstEventTimestamp"] = st.events[0].ts
					sj["lastEventTimestamp"] = st.events[n-1].ts
					sj["lastIngestionTime"] = st.events[n-1].ingested
				}
				out = append(out, sj)
			}
			limit := in.Limit
			if limit == 0 {
				limit = 50
			}
			items, next, err := page(out, limit, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"logStreams": orEmpty(items), "nextToken": omitEmpty(next)}, nil
		}),
		"GetLogEvents":    handle(s.logsGetLogEvents),
		"FilterLogEvents": handle(s.logsFilterLogEvents),
	}
}

type getLogEventsInput struct {
	LogGroupName, LogGroupIdentifier, LogStreamName string
	StartTime, EndTime                              *int64
	StartFromHead                                   *bool
	Limit                                           int
	NextToken                                       string
}

// logsGetLogEvents pages one stream. Tokens are "f/<index>" (forward) and
// "b/<index>" (backward); without a token it returns the last Limit
// events unless StartFromHead.
func (s *Server) logsGetLogEvents(in getLogEventsInput) (any, error) {
	name := in.LogGroupName
	if name == "" {
		name = in.LogGroupIdentifier
	}
	g, err := s.logGroupByName(name)
	if err != nil {
		return nil, err
	}
	st := g.streams[in.LogStreamName]
	if st == nil {
		return nil, errorf("ResourceNotFoundException", "The specified log stream does not exist.")
	}
	var evs []logEvent
	for _, e := range st.events {
		if in.StartTime != nil && e.ts < *in.StartTime || in.EndTime != nil && e.ts >= *in.EndTime {
			continue
		}
		evs = append(evs, e)
	}
	limit := in.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	var lo, hi int
	switch {
	case strings.HasPrefix(in.NextToken, "f/"):
		lo, _ = strconv.Atoi(in.NextToken[2:])
		lo = min(max(lo, 0), len(evs))
		hi = min(lo+limit, len(evs))
	case strings.HasPrefix(in.NextToken, "b/"):
		hi, _ = strconv.Atoi(in.NextToken[2:])
		hi = min(max(hi, 0), len(evs))
		lo = max(hi-limit, 0)
	case in.NextToken != "":
		return nil, errorf("InvalidParameterException", "The specified nextToken is invalid.")
	case in.StartFromHead != nil && *in.StartFromHead:
		lo, hi = 0, min(limit, len(evs))
	default:
		hi = len(evs)
		lo = max(hi-limit, 0)
	}
	out := []map[string]any{}
	for _, e := range evs[lo:hi] {
		out = append(out, map[string]any{"timestamp": e.ts, "message": e.message, "ingestionTime": e.ingested})
	}
	return map[string]any{"events": out, "nextForwardToken": fmt.Sprintf("f/%d", hi), "nextBackwardToken": fmt.Sprintf("b/%d", lo)}, nil
}

type filterLogEventsInput struct {
	LogGroupName, LogGroupIdentifier string
	LogStreamNames                   []string
	LogStreamNamePrefix              string
	StartTime, EndTime               *int64
	FilterPattern                    string
	Limit                            int
	NextToken                        string
	StartFromHead                    *bool
}

// logsFilterLogEvents searches a group's streams. Events come oldest first
// unless StartFromHead is false, which (as in recent CloudWatch Logs)
// returns the newest first. A filter pattern matches as a plain substring
// (quoted terms unquoted); AWS's full pattern syntax is not modelled.
func (s *Server) logsFilterLogEvents(in filterLogEventsInput) (any, error) {
	name := in.LogGroupName
	if name == "" {
		name = in.LogGroupIdentifier
	}
	g, err := s.logGroupByName(name)
	if err != nil {
		return nil, err
	}
	type ev struct {
		logEvent
		stream string
	}
	var evs []ev
	var searched []map[string]any
	pattern := strings.Trim(in.FilterPattern, `"`)
	for _, sn := range sortedKeys(g.streams) {
		if len(in.LogStreamNames) > 0 && !contains(in.LogStreamNames, sn) || !strings.HasPrefix(sn, in.LogStreamNamePrefix) {
			continue
		}
		searched = append(searched, map[string]any{"logStreamName": sn, "searchedCompletely": true})
		for _, e := range g.streams[sn].events {
			if in.StartTime != nil && e.ts < *in.StartTime || in.EndTime != nil && e.ts > *in.EndTime {
				continue
			}
			if pattern != "" && !strings.Contains(e.message, pattern) {
				continue
			}
			evs = append(evs, ev{e, sn})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].ts < evs[j].ts })
	if in.StartFromHead != nil && !*in.StartFromHead {
		for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
			evs[i], evs[j] = evs[j], evs[i]
		}
	}
	limit := in.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	items, next, err := page(evs, limit, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, e := range items {
		out = append(out, map[string]any{"logStreamName": e.stream, "timestamp": e.ts, "message": e.message,
			"ingestionTime": e.ingested, "eventId": e.id})
	}
	return map[string]any{"events": out, "searchedLogStreams": orEmpty(searched), "nextToken": omitEmpty(next)}, nil
}
