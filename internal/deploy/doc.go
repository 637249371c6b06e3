// Package deploy holds deployment strategies (rolling, blue/green, canary) and release analysis as pure decisions over state and a clock.
package deploy
