'use client'
// The signed-in user's passkeys: the guide's create, rename and delete snippets, and sign-out.
// `<Show>` keeps them out of the server render (the guide's snippets read `user.passkeys`
// before checking that a user is there).
import { Show } from '@clerk/nextjs'
import { CreatePasskeyButton } from './CreatePasskeyButton'
import { DeletePasskeyUI } from './DeletePasskeyUI'
import { RenamePasskeyUI } from './RenamePasskeyUI'
import { SignOutButton } from './SignOutButton'

export function PasskeyManager() {
  return (
    <Show when="signed-in">
      <p>
        <SignOutButton />
      </p>
      <section id="create">
        <CreatePasskeyButton />
      </section>
      <section id="rename">
        <h3>Rename</h3>
        <RenamePasskeyUI />
      </section>
      <section id="delete">
        <h3>Delete</h3>
        <DeletePasskeyUI />
      </section>
    </Show>
  )
}
