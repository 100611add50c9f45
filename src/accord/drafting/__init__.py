"""Templates, the clause library, versions, approval and rendering."""
