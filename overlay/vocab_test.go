package overlay

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rclone/rclone/fs"
)

// Every label the store passes to its Observer is one of the exported
// vocabularies: a name outside them would become the metric label "other".
// The check reads the package's source, so a new call site is covered
// without a test that reaches it at run time.
func TestEmittedLabelsAreKnown(t *testing.T) {
	fset := token.NewFileSet()
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = f
	}
	// The package's string constants, by name.
	consts := map[string]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
			return true
		})
	}
	vocab := map[string][]string{ // method called -> the labels its first argument may be
		"event": Events(), "Event": Events(), "objectEvent": Events(), "remote": Ops(), "Retry": Ops(), "Visible": VisibleKinds(),
		"do": SharedOps(), "writeAll": SharedOps(), "tryLease": SharedOps(),
	}
	labelArg := map[string]int{"do": 1, "writeAll": 1, "tryLease": 1} // the label's position, when not first
	calls := 0
	for name, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			known, ok := vocab[sel.Sel.Name]
			at := labelArg[sel.Sel.Name]
			if !ok || len(call.Args) <= at {
				return true
			}
			calls++
			var label string
			switch a := call.Args[at].(type) {
			case *ast.Ident:
				label, ok = consts[a.Name]
			case *ast.BasicLit:
				label, _ = strconv.Unquote(a.Value)
			default:
				ok = false
			}
			if !ok {
				// A variable: only the forwarding helpers (event,
				// objectEvent, remote) pass one on; their callers are checked.
				if fn := enclosingFunc(f, call.Pos()); fn != "event" && fn != "objectEvent" && fn != "remote" && fn != "writeAll" && fn != "tryLease" {
					t.Errorf("%s: %s called with a computed label in %s", fset.Position(call.Pos()), sel.Sel.Name, fn)
				}
				return true
			}
			if !slices.Contains(known, label) {
				t.Errorf("%s (%s): %s(%q) is not in the exported vocabulary %v", fset.Position(call.Pos()), name, sel.Sel.Name, label, known)
			}
			return true
		})
	}
	if calls < 10 {
		t.Fatalf("found only %d labelled calls: the check no longer sees the call sites", calls)
	}
}

func enclosingFunc(f *ast.File, pos token.Pos) string {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Pos() <= pos && pos < fd.End() {
			return fd.Name.Name
		}
	}
	return ""
}

func TestResultOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ResultOK},
		{fs.ErrorObjectNotFound, ResultNotFound},
		{fmt.Errorf("stat: %w", fs.ErrorDirNotFound), ResultNotFound},
		{errors.New("503"), ResultError},
	} {
		if got := resultOf(tc.err); got != tc.want || !slices.Contains(Results(), got) {
			t.Errorf("resultOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
