package simulator

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// A simulator with a state directory keeps its state in a journal: an append-only file
// of records, one per request that changed something, each a batch of entries that set
// or delete one value of one table. A request is answered only after its record (and
// every record before it) is on disk (fsync), so whatever a client has seen survives a
// crash, kill -9 included. Concurrent requests share their fsyncs (group commit): a
// request that finds a sync in progress waits for it and, if its record came later, for
// the next one. On open the journal is read into memory and rewritten as one record per
// value, so that its size follows the state, not the history.
//
// A record on disk is its length and CRC-32C (4 bytes each, big-endian) followed by the
// JSON array of its entries. A crash can leave the last record torn; it was never
// acknowledged, so reading stops there and the rewrite drops it.

// journalEntry sets (V present) or deletes (V absent) the value of key K in table T.
type journalEntry struct {
	T string          `json:"t"`
	K string          `json:"k"`
	V json.RawMessage `json:"v,omitempty"`
}

// maxJournalRecord bounds one record, so that a corrupt length cannot make the reader
// allocate gigabytes; a request body is at most 1 MiB, and a record holds one request's
// changes.
const maxJournalRecord = 64 << 20

var journalCRC = crc32.MakeTable(crc32.Castagnoli)

// journal is the open journal file of one simulator. append runs under the simulator's
// lock, which orders the records; sync runs outside it.
type journal struct {
	path   string
	f      *os.File
	unlock func() error

	mu      sync.Mutex // guards written, synced and err
	written int64      // records appended
	synced  int64      // records known to be on disk
	err     error      // the first write or sync failure: the journal takes no more
	syncMu  sync.Mutex // one fsync at a time
}

// openJournal locks the journal file at path (creating its directory), so that a second
// process cannot write the same state, and returns it ready for replay and compact.
func openJournal(path string) (*journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("simulator state directory: %w", err)
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	return &journal{path: path, unlock: unlock}, nil
}

// replay reads the records on disk and passes every entry to apply, in order. It stops
// quietly at a torn or corrupt record: a crash during its write.
func (j *journal) replay(apply func(journalEntry) error) error {
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open simulator journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var head [8]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return nil // the end, or a torn header
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n > maxJournalRecord {
			return nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil || crc32.Checksum(payload, journalCRC) != binary.BigEndian.Uint32(head[4:]) {
			return nil
		}
		var entries []journalEntry
		if err := json.Unmarshal(payload, &entries); err != nil {
			return nil
		}
		for _, e := range entries {
			if err := apply(e); err != nil {
				return fmt.Errorf("simulator journal %s: %s %q: %w", j.path, e.T, e.K, err)
			}
		}
	}
}

// compact replaces the file with one holding entries (the whole state), durably: it
// writes a temporary file, syncs it, renames it over the journal and syncs the
// directory. Then the journal is open for appending.
func (j *journal) compact(entries []journalEntry) error {
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600) // #nosec G304 -- the path is the simulator's own state directory from Rollin's configuration
	if err != nil {
		return fmt.Errorf("compact simulator journal: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	// One record per entry keeps records small; the state is consistent only as a whole,
	// but a torn compaction never replaces the journal.
	for _, e := range entries {
		if err == nil {
			err = writeRecord(w, []journalEntry{e})
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(j.path))
	}
	if err != nil {
		return fmt.Errorf("compact simulator journal: %w", err)
	}
	j.f, err = os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- as above
	if err != nil {
		return fmt.Errorf("open simulator journal: %w", err)
	}
	return nil
}

func writeRecord(w io.Writer, entries []journalEntry) error {
	payload, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	if len(payload) > maxJournalRecord {
		return fmt.Errorf("journal record of %d bytes exceeds %d", len(payload), maxJournalRecord)
	}
	buf := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(buf[:4], uint32(len(payload))) // #nosec G115 -- bounded by maxJournalRecord just above
	binary.BigEndian.PutUint32(buf[4:], crc32.Checksum(payload, journalCRC))
	_, err = w.Write(append(buf, payload...))
	return err
}

// append writes one record (one write call, so a crash tears at most this record) and
// returns its number for sync. Call it with the simulator's lock held.
func (j *journal) append(entries []journalEntry) (int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if err := writeRecord(j.f, entries); err != nil {
		j.err = fmt.Errorf("write simulator journal: %w", err)
		return 0, j.err
	}
	j.written++
	return j.written, nil
}

// sync returns once record n and all before it are on disk.
func (j *journal) sync(n int64) error {
	if n == 0 {
		return nil
	}
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	upTo, done, err := j.written, j.synced >= n, j.err
	j.mu.Unlock()
	if err != nil || done {
		return err // a sync while we waited covered n
	}
	if err := j.f.Sync(); err != nil {
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.err == nil {
			j.err = fmt.Errorf("sync simulator journal: %w", err)
		}
		return j.err
	}
	j.mu.Lock()
	j.synced = max(j.synced, upTo)
	j.mu.Unlock()
	return nil
}

// close closes the file and releases the lock. Every acknowledged record is on disk
// already.
func (j *journal) close() error {
	var err error
	if j.f != nil {
		err = j.f.Close()
	}
	if uerr := j.unlock(); err == nil {
		err = uerr
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- the simulator's own state directory
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
