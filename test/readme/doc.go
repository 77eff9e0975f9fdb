// Package readme runs the commands printed in the workshop's READMEs, in
// workshop order, exactly as a learner types them, and fails with the
// README's file and line when one of them fails or prints something else
// than the README shows.
//
// The READMEs mark their blocks with HTML comments, invisible on GitHub:
//
//	<!-- run -->                     run the next ```sh block
//	<!-- run: background -->         start it and keep it running until the README ends
//	<!-- run: needs docker -->       only where the Docker engine is up (also: cluster, a program)
//	<!-- run: timeout 10m, exit 2 --> bound it; expect that exit status
//	<!-- wait: http://localhost:5000/readyz -->   poll until it answers 2xx
//	<!-- stop -->                    stop the background blocks so far (the learner's Ctrl+C)
//	<!-- output -->                  the next block is the expected output, compared loosely
//	<!-- cleanup -->                 run the next block at the end of the README, always
//	<!-- skip: reason -->            a block that cannot run here
//	<!-- section: compose -->        the top README's section run after the stages
//
// Parse reads a README into steps, Runner runs them, and Match compares an
// output with the expected text. TestREADMEs drives the whole workshop.
package readme
