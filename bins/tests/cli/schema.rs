//! The JSON Schema of the environment files: `schema` prints the shipped file, every shipped
//! environment file names it and passes it, checked by python-jsonschema (which we did not
//! write). The bad-input table checks what it rejects.

use std::collections::BTreeMap;

#[test]
fn schema_prints_the_shipped_file_and_every_shipped_environment_passes_it() {
    let root = dal_tests::project_root();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_data-and-ai"))
        .arg("schema")
        .current_dir(&root)
        .output()
        .expect("the binary runs");
    assert!(out.status.success());
    let shipped = std::fs::read_to_string(root.join("environments/environment.schema.json"))
        .expect("the shipped schema");
    assert_eq!(String::from_utf8_lossy(&out.stdout), shipped);

    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("environments")).expect("environments/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).expect("an environment file");
            assert!(
                text.starts_with("#:schema ./environment.schema.json\n"),
                "{} does not name the schema on its first line",
                path.display()
            );
            files.insert(path.display().to_string(), text);
        }
    }
    assert!(files.len() >= 6, "{:?}", files.keys());
    let verdicts = dal_tests::schema_verdicts(&files);
    let rejected: Vec<_> = verdicts.iter().filter(|(_, v)| v.is_some()).collect();
    assert!(rejected.is_empty(), "{rejected:#?}");
    // And it is no schema that accepts anything.
    let bad = BTreeMap::from([(
        "typo".to_string(),
        "regoin = \"eu-central-2\"\n".to_string(),
    )]);
    assert!(dal_tests::schema_verdicts(&bad)["typo"]
        .as_deref()
        .is_some_and(|why| why.contains("regoin")));
}
