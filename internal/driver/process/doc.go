// Package process runs tasks as local processes in their own process groups, and adopts them again after a control-plane restart.
package process
