"""The portal's contract: request and response bodies, panel sizes and reward labels."""
