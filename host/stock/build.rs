//! Compiles `plugins/` to components and embeds them (see tether-wasm-build).

fn main() {
    let root = tether_wasm_build::repo_root(2);
    tether_wasm_build::embed_workspace(&root, &root.join("plugins"), "stock.rs", "STOCK");
}
