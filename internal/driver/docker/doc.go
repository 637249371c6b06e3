// Package docker runs tasks as Docker containers through the Docker Engine API, labelled so they can be adopted and swept.
package docker
