package overlay

import (
	"crypto/sha256"
	"encoding/hex"
)

// The shared overlay's keys, under one prefix per remote
// ("steadyrest:{<hash of the remote>}:", one hash slot, so a cluster
// keeps a remote's keys together):
//
//	d:<dir>   hash: name -> record, the records of one listed folder
//	v:<dir>   hash: the folder's version ("v", raised by every change of
//	          d:<dir>) and the oldest version g:<dir> still covers ("floor")
//	g:<dir>   sorted set: the folder's changed names by the version of their
//	          last change, the newest viewLogMax: what an instance's view of
//	          the folder re-reads (shared_view.go)
//	c         hash: key -> record, config records (no listed folder)
//	p         hash: key -> tombstone, deletes prepared and not yet published
//	b:<key>   string: the bytes of a small upload
//	z:pc z:pt z:pr   sorted sets of pending created records, tombstones,
//	          and pending reaps, by acknowledgement time
//	z:rq      pending reaps by their next attempt
//	z:up      deferred locks (write-behind) by acknowledgement time
//	z:cf      confirmed records by confirmation time
//	l:<key>   per-name lease (lock)
//	bg        the background lease: its holder reaps and confirms
//	m         the marker: a random id whose disappearance means Redis lost
//	          its data
//
// Every key but the marker expires sharedTTL after its last write, the
// longest a record can live, so Redis never grows without bound even when
// every instance is gone.
type sharedKeys string // the prefix

func keysFor(remote string) sharedKeys {
	sum := sha256.Sum256([]byte(remote))
	return sharedKeys("steadyrest:{" + hex.EncodeToString(sum[:8]) + "}:")
}

// holder is the hash holding the record of obj, and its field there.
func (k sharedKeys) holder(obj objectKey) (hash, field string) {
	if obj.isConfig() {
		return string(k) + "c", obj.path
	}
	return k.dir(obj.dir), obj.name
}

func (k sharedKeys) dir(dir string) string     { return string(k) + "d:" + dir }
func (k sharedKeys) version(dir string) string { return string(k) + "v:" + dir }
func (k sharedKeys) changes(dir string) string { return string(k) + "g:" + dir }
func (k sharedKeys) data(key string) string    { return string(k) + "b:" + key }
func (k sharedKeys) lease(key string) string   { return string(k) + "l:" + key }
func (k sharedKeys) prepared() string          { return string(k) + "p" }
func (k sharedKeys) background() string        { return string(k) + "bg" }
func (k sharedKeys) marker() string            { return string(k) + "m" }

// stateSet is one of the sorted sets indexing the records by state; the
// set script takes them in this order.
type stateSet int

const (
	setNone       stateSet = iota
	setCreated             // z:pc
	setTombstones          // z:pt
	setReaps               // z:pr
	setReapQueue           // z:rq
	setConfirmed           // z:cf
	setDeferred            // z:up
)

var stateSets = []stateSet{setCreated, setTombstones, setReaps, setReapQueue, setConfirmed, setDeferred}

var setSuffix = map[stateSet]string{
	setCreated: "z:pc", setTombstones: "z:pt", setReaps: "z:pr",
	setReapQueue: "z:rq", setConfirmed: "z:cf", setDeferred: "z:up",
}

func (k sharedKeys) set(s stateSet) string { return string(k) + setSuffix[s] }

// sets are the state sets' keys, in stateSet order.
func (k sharedKeys) sets() []string {
	out := make([]string, len(stateSets))
	for i, s := range stateSets {
		out[i] = k.set(s)
	}
	return out
}

// setOf is the state set r is indexed in, besides the reap queue; a
// deferred lock stays in z:up until its upload, whatever else it is.
func setOf(r record) stateSet {
	switch {
	case r.deferred:
		return setDeferred
	case !r.pending():
		return setConfirmed
	}
	switch classOf(r) {
	case countCreated:
		return setCreated
	case countReap:
		return setReaps
	}
	return setTombstones
}

// class is what the records of s count as (counts.go).
func (s stateSet) class() countClass {
	switch s {
	case setCreated, setDeferred:
		return countCreated
	case setTombstones:
		return countTombstone
	case setReaps:
		return countReap
	}
	return countNone
}
