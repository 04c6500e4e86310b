package vdi

// DiffChain is diffChain for the external tests (image_test.go).
var DiffChain = diffChain
