fn main() {
    uniffi::generate_scaffolding("udl/duroxide.udl")
        .expect("UniFFI scaffolding from udl/duroxide.udl");
}
