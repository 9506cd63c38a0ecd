package overlay

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// The seam does not leak: outside the implementations' own files no code
// asserts a recordStore to a concrete store; it asks for an optional
// capability (capabilities.go) instead.
func TestNoConcreteStoreAssertions(t *testing.T) {
	concrete := map[string]bool{"localRecords": true, "sharedRecords": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue // a test may look inside the store it tests
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var typ ast.Expr
			switch n := n.(type) {
			case *ast.TypeAssertExpr:
				typ = n.Type
			case *ast.TypeSwitchStmt:
				for _, c := range n.Body.List {
					for _, e := range c.(*ast.CaseClause).List {
						assertNotConcrete(t, fset, e, concrete)
					}
				}
			}
			if typ != nil {
				assertNotConcrete(t, fset, typ, concrete)
			}
			return true
		})
	}
}

// assertNotConcrete reports typ when it names a concrete store (or a pointer to one).
func assertNotConcrete(t *testing.T, fset *token.FileSet, typ ast.Expr, concrete map[string]bool) {
	t.Helper()
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if id, ok := typ.(*ast.Ident); ok && concrete[id.Name] {
		t.Errorf("%s: type assertion on the concrete store %s; ask for a capability interface instead", fset.Position(typ.Pos()), id.Name)
	}
}
