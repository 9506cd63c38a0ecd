package overlay

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The codec of a record: what of it the journal and the shared overlay
// keep, and how each reads it back. Both forms are the formats earlier
// versions wrote, so a journal or a Redis written by them still loads.
//
// The journal keeps a record that a restart must bring back: never a
// confirmed one (a restart forgets those safely), and no backoff state
// (a reload retries at once). Redis keeps the whole state, since every
// instance reads it: "<kind> <at> <reap> <removedAt> <confirmed>
// <deferred>\n<size> <nextTry> <tries>". The first line is the
// record's stamp, what unchanged compares, which the scripts compare as a
// string.

// journalOf is r as the journal keeps it; data is its content, kept when
// r is small enough. A lock is marked deferred only while the remote never
// got it: a deferred lock a listing confirmed (the one a refused delete
// restores, say) is on the remote, and a reload must neither demand its
// bytes nor upload it again.
func journalOf(r record, data []byte) journalRecord {
	if r.kind == tombstone {
		return journalRecord{Kind: "t", At: r.at, Reap: r.reap, Rm: r.removedAt}
	}
	jr := journalRecord{Kind: "c", Size: r.size, At: r.at, Def: r.neverUploaded()}
	if data != nil && r.size <= journalDataMax {
		jr.Data = data
	}
	return jr
}

// fromJournal is the record the journal kept as jr under key, the one
// place a journal's key is read back into an objectKey.
func fromJournal(key string, jr journalRecord) (record, error) {
	k, ok := parseKey(key)
	if !ok {
		return record{}, fmt.Errorf("journal record %q: not an object path", key)
	}
	r := record{key: k, size: jr.Size, at: jr.At, reap: jr.Reap, removedAt: jr.Rm, deferred: jr.Def}
	switch jr.Kind {
	case "c":
		r.kind = created
	case "t":
		r.kind = tombstone
	default:
		return record{}, fmt.Errorf("journal record %q: unknown kind %q", key, jr.Kind)
	}
	if r.deferred && int64(len(jr.Data)) != jr.Size {
		return record{}, fmt.Errorf("journal record %q: a deferred lock without its bytes", key)
	}
	return r, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// stampOf is the first line of r's shared form.
func stampOf(r record) string {
	k := "c"
	if r.kind == tombstone {
		k = "t"
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	return k + " " + strconv.FormatInt(nanos(r.at), 10) + " " + flag(r.reap) + " " +
		strconv.FormatInt(nanos(r.removedAt), 10) + " " + strconv.FormatInt(nanos(r.confirmed), 10) + " " + flag(r.deferred)
}

// encodeRecord is r's shared form.
func encodeRecord(r record) string {
	return stampOf(r) + "\n" + strconv.FormatInt(r.size, 10) + " " +
		strconv.FormatInt(nanos(r.nextTry), 10) + " " + strconv.Itoa(r.tries)
}

// decodeRecord is the record of key whose shared form is v.
func decodeRecord(key objectKey, v string) (record, error) {
	f := strings.Fields(strings.Replace(v, "\n", " ", 1))
	if len(f) != 9 {
		return record{}, fmt.Errorf("shared record %q is damaged: %q", key.path, v)
	}
	var n [6]int64
	for i, s := range []string{f[1], f[3], f[4], f[6], f[7], f[8]} {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return record{}, fmt.Errorf("shared record %q is damaged: %w", key.path, err)
		}
		n[i] = x
	}
	r := record{key: key, at: fromNanos(n[0]), reap: f[2] == "1", deferred: f[5] == "1",
		removedAt: fromNanos(n[1]), confirmed: fromNanos(n[2]), size: n[3], nextTry: fromNanos(n[4]), tries: int(n[5])}
	switch f[0] {
	case "c":
		r.kind = created
	case "t":
		r.kind = tombstone
	default:
		return record{}, fmt.Errorf("shared record %q: unknown kind %q", key.path, f[0])
	}
	return r, nil
}
