// Package integration holds the end-to-end tests of virt-bmap: they build
// the test images with testimages/build.sh (mkfs.ext*, debugfs, sfdisk,
// sgdisk), run the virt-bmap binary on them, and compare its block map
// with independent tools: The Sleuth Kit (fls, istat) and e2fsprogs
// (debugfs, dumpe2fs), and sfdisk for the partition tables. The package has
// no code of its own; everything is in the _test.go files.
package integration
