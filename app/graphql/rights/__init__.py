"""Rights (权益通): the catalogue (`rights`, `createRight`, `updateRight`)."""
