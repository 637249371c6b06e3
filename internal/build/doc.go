// Package build builds service artifacts and images, tags them by commit and pushes them to registries.
package build
