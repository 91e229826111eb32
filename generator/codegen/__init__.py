"""C code generation from the IR and a memory plan."""
