"""The tracking plan (event definitions, their properties and owners) and the faults raised against it."""
