-- berth scale on an autoscaled service sets its minimum (as the ECS engine
-- sets the scalable target's); NULL: the minimum of the spec's scale:.
ALTER TABLE services ADD COLUMN scale_min INTEGER;
