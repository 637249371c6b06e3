// Package deploy holds deployment strategies (rolling, blue/green, canary), release analysis and autoscaling as pure decisions over state and a clock.
package deploy
