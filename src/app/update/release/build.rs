//! Build (asking for its version) and ship (build, push, deploy).

use super::*;

/// Ask for the build's version (the default shown), then build.
pub fn ask_build(state: &mut State, project: String, deploy_to: Option<String>) -> Vec<Effect> {
    if let Some(why) = state.refusal(Command::Build) {
        flash_error(state, why);
        return Vec::new();
    }
    if state
        .config
        .project(&project)
        .is_some_and(|p| p.build.is_none())
    {
        flash_error(
            state,
            format!("{project} has no [projects.build] table in the inventory; nothing to build"),
        );
        return Vec::new();
    }
    if state
        .builds
        .get(&project)
        .is_some_and(|b| b.status == BuildStatus::Running)
    {
        nav::open(
            state,
            View::Build {
                project: project.clone(),
            },
        );
        state.flash = Some(Flash {
            text: format!("a build of {project} is running already"),
            error: false,
        });
        return Vec::new();
    }
    let title = match &deploy_to {
        Some(env) => format!("ship {project} to {env}: the version to build"),
        None => format!("build {project}: the version to tag and push"),
    };
    let mut picker = Picker::new(title, PickPurpose::Build { project, deploy_to }, true);
    picker.note = Some(
        "type a version, or enter for the default: the git short sha + UTC time of the build context"
            .into(),
    );
    state.mode = Mode::Pick(Box::new(picker));
    Vec::new()
}

pub fn begin_build(
    state: &mut State,
    project: String,
    version: Option<String>,
    deploy_to: Option<String>,
) -> Vec<Effect> {
    nav::open(
        state,
        View::Build {
            project: project.clone(),
        },
    );
    let mut pane = BuildPane::new();
    pane.deploy_to = deploy_to.clone();
    state.builds.insert(project.clone(), pane);
    state.screen_mut().selected = 0;
    vec![Effect::StartBuild {
        project,
        version,
        deploy_to,
    }]
}
