//! Links the N-API symbols the way napi-rs needs on each platform.

fn main() {
    napi_build::setup();
}
